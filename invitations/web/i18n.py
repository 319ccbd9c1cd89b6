"""The page's sentences for JavaScript, in the site's languages (settings.LANGUAGES).

- /jsi18n/ and /jsi18n/<language>/: Django's JavaScriptCatalog (gettext, ngettext,
  interpolate), the request's language or the one named; base.html loads the named one
  before the page's modules, since static/js/call/words.js reads globalThis.gettext at load.
- /api/i18n/<language>/: the same catalog as JSON, for the call kit on an app's page
  (static/js/kit/language.js). Under /api/ so that the origins of registered apps read it
  cross-origin (invitations/accounts/cors.py), with PROTOCOL's error object for a language
  the site does not speak.
"""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.utils import translation
from django.views.decorators.http import require_GET
from django.views.i18n import JavaScriptCatalog, JSONCatalog

from invitations.calls.errors import CallError

CATALOG_SECONDS = 3600  # the sentences change with a release, not while it runs


def supported_language(code: str) -> str | None:
    """ "zh-Hans", "zh_CN", "zh-hans" -> "zh-hans"; "en-US" -> "en"; None for a language the site lacks."""
    try:
        return translation.get_supported_language_variant(code.replace("_", "-").lower())
    except LookupError:
        return None


def _in_language(view: type[JavaScriptCatalog], request: HttpRequest, language: str) -> HttpResponseBase:
    with translation.override(language):
        response = view.as_view(domain="djangojs")(request)
    response["Content-Language"] = language
    response["Cache-Control"] = f"public, max-age={CATALOG_SECONDS}"
    return response


@require_GET
def javascript_catalog(request: HttpRequest, language: str = "") -> HttpResponseBase:
    """The catalog script for `language`, or for the request's language when none is named."""
    chosen = supported_language(language) if language else (translation.get_language() or settings.LANGUAGE_CODE)
    if chosen is None:
        return HttpResponse(f"No catalog for {language!r}.", status=404, content_type="text/plain; charset=utf-8")
    return _in_language(JavaScriptCatalog, request, chosen)


@require_GET
def json_catalog(request: HttpRequest, language: str) -> HttpResponseBase:
    """{"catalog": {english: translation or [plural forms]}, "formats": ..., "plural": ...}"""
    chosen = supported_language(language)
    if chosen is None:
        names = ", ".join(code for code, _ in settings.LANGUAGES)
        error = CallError("not_found", f"No catalog for {language!r}: the site speaks {names}.")
        return JsonResponse({"error": error.as_dict()}, status=error.status)
    return _in_language(JSONCatalog, request, chosen)
