"""URL map: the console (web), auth pages, the REST API under /api/v1/, its schema and docs, health."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.api_base import json_error_view
from accounts.auth_views import ThrottledPasswordResetView
from web import signup_views, two_factor_views
from web.csat_views import csat_page

from .health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("csat/<str:token>/", csat_page, name="csat"),
    path("", include("channels_app.urls")),
    path("api/v1/", include("accounts.urls")),
    path("api/v1/", include("contacts.urls")),
    path("api/v1/", include("inbox.urls")),
    path("api/v1/", include("memory.urls")),
    path("api/v1/", include("ai_agent.urls")),
    path("api/v1/", include("channels_app.api_urls")),
    path("api/v1/", include("reports.urls")),
    path("api/v1/", include("integrations.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # Unknown API paths answer in the API's JSON error shape (also with DEBUG on), not with an HTML page.
    re_path(r"^api/", json_error_view(404, "not_found", "No API endpoint at this path; see /api/docs/.")),
    path("auth/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("auth/password_reset/", ThrottledPasswordResetView.as_view(), name="password_reset"),
    path("auth/signup/", signup_views.signup, name="signup"),
    path("auth/signup/confirm/<str:token>/", signup_views.signup_confirm, name="signup-verify"),
    path("auth/two-factor/", two_factor_views.two_factor_setup, name="two-factor"),
    path("auth/two-factor/disable/", two_factor_views.two_factor_disable, name="two-factor-disable"),
    path("auth/two-factor/verify/", two_factor_views.two_factor_verify, name="two-factor-verify"),
    path("auth/", include("django.contrib.auth.urls")),
    path("django-admin/", admin.site.urls),
    path("", include("web.urls")),
]

# A crash outside DRF's handling still answers API clients in the API's JSON error shape.
handler500 = "config.urls.handle_500"

_api_500 = json_error_view(500, "server_error", "Something went wrong on our side; it has been logged.")


def handle_500(request):  # type: ignore[no-untyped-def]
    import sys

    from django.views.defaults import server_error

    from .availability import kind_of, unavailable

    exc = sys.exc_info()[1]
    kind = kind_of(exc) if exc is not None else None
    if kind is not None:  # raised before the view (a session read): still a 503
        return unavailable(request, kind)
    if request.path.startswith("/api/"):
        return _api_500(request)
    return server_error(request)
