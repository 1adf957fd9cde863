"""URL map: the console (web), auth pages, the REST API under /api/v1/, its schema and docs, health."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.api_base import json_error_view

from .health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/v1/", include("accounts.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("auth/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("auth/", include("django.contrib.auth.urls")),
    path("django-admin/", admin.site.urls),
    path("", include("web.urls")),
]

# Errors raised outside DRF (unknown URL, crash) still answer API clients in the API's JSON error shape.
handler404 = "config.urls.handle_404"
handler500 = "config.urls.handle_500"

_api_404 = json_error_view(404, "not_found", "Not found.")
_api_500 = json_error_view(500, "server_error", "Something went wrong on our side; it has been logged.")


def handle_404(request, exception):  # type: ignore[no-untyped-def]
    from django.views.defaults import page_not_found

    if request.path.startswith("/api/"):
        return _api_404(request, exception)
    return page_not_found(request, exception)


def handle_500(request):  # type: ignore[no-untyped-def]
    from django.views.defaults import server_error

    if request.path.startswith("/api/"):
        return _api_500(request)
    return server_error(request)
