"""Sphinx extension of the himpc book.

sphinx-thebe and sphinx-togglebutton register their inline scripts twice under jupyter-book 1.0
with Sphinx 7 (``const THEBE_JS_URL`` declared twice is a console SyntaxError); drop duplicate
script entries (same file, or same inline body) from every page.
"""


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    seen, keep = set(), []
    for js in context.get("script_files", []):
        attrs = getattr(js, "attributes", {}) or {}
        key = attrs.get("body") or getattr(js, "filename", None) or str(js)
        if key not in seen:
            seen.add(key)
            keep.append(js)
    context["script_files"] = keep


def setup(app):
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
