"""URL map. /healthz, /readyz and /metrics are answered by core.probes.ProbeMiddleware."""
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("apranova.api.urls")),
]
