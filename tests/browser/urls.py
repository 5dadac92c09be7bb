"""The project's URLs plus uploaded media, which the live server must serve for thumbnails."""

from django.conf import settings
from django.urls import re_path
from django.views.static import serve

from config.urls import urlpatterns as project_urlpatterns


def media(request, path):
    # MEDIA_ROOT read per request: tests point it at their own folder.
    return serve(request, path, document_root=settings.MEDIA_ROOT)


urlpatterns = [re_path(r"^media/(?P<path>.*)$", media), *project_urlpatterns]
