"""The click counter behind result links: count, then send the shopper on to the product."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from visual_search.adapters import get_adapter
from visual_search.analytics.interactions import record_click
from visual_search.analytics.tokens import BadToken, read_token


# A beacon carries no CSRF token; the signed token is the proof, and counting a click changes nothing else.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def click(request: HttpRequest, token: str) -> HttpResponse:
    """``click/<token>/``: count the click; POST (the page's beacon) answers 204, GET redirects to the product.

    The redirect goes to the product's own URL from the adapter, never to one taken from the request.
    """
    try:
        _, pk, _ = read_token(token)
    except BadToken:
        raise Http404("This link has expired or was altered.") from None
    adapter = get_adapter()
    product = adapter.get_queryset().filter(pk=pk).first()
    shown = adapter.get_display([product]).get(product.pk) if product is not None else None
    if shown is None or not shown.url:
        raise Http404("No such product.")
    record_click(token, request=request)
    return HttpResponse(status=204) if request.method == "POST" else HttpResponseRedirect(shown.url)
