"""HTML view: search the catalogue by photo, or for products like one product.

The page is a plain form that works without JavaScript. ``static/visual_search/search.js``
enhances it: it posts the same form with ``fetch`` and the header
``X-Visual-Search-Fragment: 1``, and gets back only the results fragment.
"""

from __future__ import annotations

import base64
import io
import time

from django import forms
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.formats import number_format
from django.utils.text import get_text_list
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from visual_search.adapters import ProductAdapter, get_adapter
from visual_search.analytics.log import record_search
from visual_search.conf import vs_settings
from visual_search.filters import FilterError, SearchFilter, filter_choices, parse_filters
from visual_search.images import STATUS_BY_CODE, InvalidImage, open_image
from visual_search.search.results import ResultPage, build_result_page
from visual_search.search.service import query_decode_size, search_by_image, similar_products
from visual_search.search.text import MAX_QUERY_LENGTH, TEXT_RANK, search_by_image_and_text, search_by_text

FRAGMENT_HEADER = "X-Visual-Search-Fragment"
#: The long side of the copy of the query photo shown beside its results (no JavaScript needed).
QUERY_PREVIEW_SIZE = 320
#: At most this many values of a text filter become a drop-down; more stay a text box.
MAX_FILTER_CHOICES = 50


def megabytes(size: int) -> str:
    """``10 MB`` for 10,485,760 bytes, ``1.5 MB`` for 1,572,864: how people say file sizes."""
    value = size / (1024 * 1024)
    value = round(value, 1) if value >= 0.1 else round(value, 2)
    return _("%(size)s MB") % {"size": number_format(value, 0 if value == int(value) else None)}


#: How people write the formats Pillow names in upper case.
_FORMAT_NAMES = {"WEBP": "WebP", "JPEG2000": "JPEG 2000", "AVIF": "AVIF", "HEIF": "HEIF"}


def accepted_formats() -> str:
    """``JPEG, PNG, WebP or GIF``: the formats ``ALLOWED_IMAGE_FORMATS`` lets through, for hints and errors."""
    names = [_FORMAT_NAMES.get(str(f).upper(), str(f).upper()) for f in vs_settings.ALLOWED_IMAGE_FORMATS]
    return get_text_list(names, _("or"))


class PhotoSearchForm(forms.Form):
    """A photo plus the adapter's declared filters, each as a form field."""

    image = forms.FileField(
        label=gettext_lazy("Photo"),
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": "image/*"}),
    )

    q = forms.CharField(
        label=gettext_lazy("Words"), required=False, max_length=MAX_QUERY_LENGTH,
        widget=forms.TextInput(attrs={"placeholder": gettext_lazy("e.g. red, linen"), "autocomplete": "off"}),
        help_text=gettext_lazy("Optional: with a photo, they lift the items that also match them."),
    )

    def __init__(self, *args, adapter: ProductAdapter | None = None, **kwargs) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.adapter = adapter or get_adapter()
        if not self.adapter.text_fields:
            del self.fields["q"]  # the shop has not turned words on
        self.filter_names = []
        for name, spec in self.adapter.get_filters().items():
            self.fields[name] = self._filter_field(name, spec)
            self.filter_names.append(name)
        self.lookups: dict = {}

    def _filter_field(self, name: str, spec: SearchFilter) -> forms.Field:
        label = name.replace("_", " ").capitalize()
        common = {"label": label, "required": False}
        if spec.type == "boolean":
            return forms.BooleanField(**common)
        if spec.type in ("decimal", "integer"):
            return forms.DecimalField(min_value=0, widget=forms.NumberInput(attrs={"step": "any"}), **common)
        # Few enough values for a drop-down: shoppers read the label (a category's name), the form sends the value.
        values = filter_choices(spec, self.adapter, MAX_FILTER_CHOICES)
        if values is not None:
            choices = [("", _("Any"))] + [(v, label[:1].upper() + label[1:]) for v, label in values]
            return forms.ChoiceField(choices=choices, **common)
        return forms.CharField(max_length=spec.max_length, **common)

    def clean_image(self):
        image = self.cleaned_data.get("image")
        limit = int(vs_settings.MAX_IMAGE_BYTES)
        if image and image.size > limit:
            raise forms.ValidationError(
                _("This photo is %(size)s; photos may be at most %(limit)s.")
                % {"size": megabytes(image.size), "limit": megabytes(limit)},
                code="too_large",
            )
        return image

    def clean(self):
        cleaned = super().clean()
        raw = {}
        for name in self.filter_names:
            value = cleaned.get(name)
            if value in (None, "", False):
                continue
            raw[name] = "true" if value is True else str(value)
        try:
            self.lookups = parse_filters(raw, adapter=self.adapter)
        except FilterError as exc:
            self.add_error(exc.name if exc.name in self.fields else None, str(exc))
        return cleaned


class SearchByPhotoView(View):
    """GET shows the form, or products like ``?like=<pk>``; POST searches with the uploaded photo."""

    template_name = "visual_search/search.html"
    fragment_template_name = "visual_search/results.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        like = request.GET.get("like")
        form = PhotoSearchForm(request.GET or None)
        if like:
            return self.like(request, form, like)
        if request.GET.get("q") and form.is_valid() and form.cleaned_data.get("q"):
            return self.words(request, form)
        return self.render(request, form)

    def words(self, request: HttpRequest, form: PhotoSearchForm) -> HttpResponse:
        """Products matching the words alone (``?q=``, or a form sent with words and no photo)."""
        q, started = form.cleaned_data["q"], time.perf_counter()
        page = build_result_page(search_by_text(q, filters=form.lookups), calibrator=TEXT_RANK)
        trace = {"encoder": "text", "query_ms": (time.perf_counter() - started) * 1000}
        event = record_search(request, "page", page, filters={**form.lookups, "q": q}, trace=trace)
        return self.render(request, form, page=page, search_event=event)

    def like(self, request: HttpRequest, form: PhotoSearchForm, like: str) -> HttpResponse:
        """Products like the product ``like`` (a primary key): "more like this" on a result."""
        if not form.is_valid():
            return self.render(request, form, status=400)
        adapter = form.adapter
        try:
            product = adapter.get_queryset().filter(pk=like).first()
        except (ValueError, ValidationError):  # not a valid primary key for this model
            product = None
        if product is None:
            raise Http404(_("No such product."))
        shown = adapter.get_display([product]).get(product.pk)
        trace: dict = {}
        page = self.page(similar_products(product, filters=form.lookups, trace=trace))
        event = record_search(request, "page_like", page, filters=form.lookups, trace=trace, query_product=product.pk)
        return self.render(
            request,
            form,
            page=page,
            search_event=event,
            like=product,
            query_image=shown.image_url if shown else None,
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        form = PhotoSearchForm(request.POST, request.FILES)
        if not form.is_valid():
            return self.render(request, form, status=_status(form))
        upload = form.cleaned_data.get("image")
        if not upload and request.POST.get("like"):
            # Filters changed on a "more like this" page.
            return self.like(request, form, request.POST["like"])
        words = form.cleaned_data.get("q")
        if not upload and words:
            return self.words(request, form)
        if not upload:
            form.add_error("image", _("Choose a photo first."))
            return self.render(request, form, status=400)
        started = time.perf_counter()
        try:
            image = open_image(upload, target_size=query_decode_size())
        except InvalidImage as exc:
            form.add_error("image", forms.ValidationError(str(exc), code=exc.code))
            response = self.render(request, form, status=_status(form))
            if exc.retry_after:
                response["Retry-After"] = str(exc.retry_after)
            return response
        decode_ms = (time.perf_counter() - started) * 1000
        trace: dict = {}
        if words:
            page = self.page(search_by_image_and_text(image, words, filters=form.lookups, trace=trace))
        else:
            page = self.page(search_by_image(image, filters=form.lookups, trace=trace))
        trace["decode_ms"] = decode_ms  # decoded here, for the preview, before the service saw it
        logged = {**form.lookups, "q": words} if words else form.lookups
        event = record_search(request, "page", page, filters=logged, trace=trace)
        return self.render(request, form, page=page, search_event=event, query_image=_preview(image))

    def page(self, results) -> ResultPage:
        return build_result_page(results)

    def render(
        self, request: HttpRequest, form: PhotoSearchForm, *, status: int = 200, **context
    ) -> HttpResponse:
        context.update(
            form=form,
            base_template=vs_settings.BASE_TEMPLATE,
            max_upload=megabytes(int(vs_settings.MAX_IMAGE_BYTES)),
            max_upload_bytes=int(vs_settings.MAX_IMAGE_BYTES),
            accepted_formats=accepted_formats(),
            searched="page" in context,
        )
        fragment = request.headers.get(FRAGMENT_HEADER) == "1"
        template = self.fragment_template_name if fragment else self.template_name
        return render(request, template, context, status=status)


def _status(form: forms.Form) -> int:
    """The image gate's status for its refusal code (413, 415, 422...), else 400."""
    errors = form.errors.as_data().get("image") or [None]
    return STATUS_BY_CODE.get(getattr(errors[0], "code", None), 400)


def _preview(image) -> str:
    """A small JPEG data URL of the query photo, so the page shows it beside its results."""
    copy = image.convert("RGB")
    copy.thumbnail((QUERY_PREVIEW_SIZE, QUERY_PREVIEW_SIZE))
    buffer = io.BytesIO()
    copy.save(buffer, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
