from django import template

from admin_theme.saved_views import views_of_model

register = template.Library()


@register.filter
def saved_views_of(model_admin, request):
    return views_of_model(request, model_admin.model)
