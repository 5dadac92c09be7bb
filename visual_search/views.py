"""HTML view: search the catalogue by photo."""

from __future__ import annotations

from django import forms
from django.views.generic import FormView

from visual_search.adapters import get_adapter
from visual_search.conf import vs_settings
from visual_search.images import STATUS_BY_CODE, InvalidImage
from visual_search.search import search_by_image


class PhotoSearchForm(forms.Form):
    image = forms.FileField(label="Photo", widget=forms.ClearableFileInput(attrs={"accept": "image/*"}))

    def clean_image(self):
        image = self.cleaned_data["image"]
        if image.size > int(vs_settings.MAX_IMAGE_BYTES):
            raise forms.ValidationError(f"Images may be at most {vs_settings.MAX_IMAGE_BYTES:,} bytes.", code="too_large")
        return image


def result_cards(results) -> list[dict]:
    """What a template needs of each result, read through the adapter."""
    adapter = get_adapter()
    return [
        {
            "product": r.product,
            "title": adapter.get_title(r.product),
            "url": adapter.get_url(r.product),
            "image_url": adapter.get_image_url(r.product),
            "score": r.score,
        }
        for r in results
    ]


class SearchByPhotoView(FormView):
    """GET shows the form; POST embeds the photo and shows the closest products."""

    form_class = PhotoSearchForm
    template_name = "visual_search/search.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(base_template=vs_settings.BASE_TEMPLATE, **kwargs)

    def form_valid(self, form):
        try:
            results = search_by_image(form.cleaned_data["image"])
        except InvalidImage as exc:
            form.add_error("image", forms.ValidationError(str(exc), code=exc.code))
            return self.form_invalid(form)
        return self.render_to_response(self.get_context_data(form=form, results=result_cards(results), searched=True))

    def form_invalid(self, form):
        response = super().form_invalid(form)
        # The image gate's status for its refusal code (413, 415, 422...), else 400.
        errors = form.errors.as_data().get("image") or [None]
        response.status_code = STATUS_BY_CODE.get(getattr(errors[0], "code", None), 400)
        return response
