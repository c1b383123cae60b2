"""Sphinx configuration of the course website (``make site``; built by ``xaihealth.tooling.site``).

The site is built from a staged copy of the repository (``docs/`` pages at the root, the executed lecture
notebooks in ``notebooks/``, the student labs in ``labs/``, ``README.md`` for the teaching guide, the slides
in ``_extra/slides``), so that the links of the README work on the site as they do in the repository.
Nothing is executed (the notebooks are read with their stored outputs) and nothing is loaded from the
network: maths are drawn by the KaTeX copy shipped with the slides (``slides/katex``), the theme's fonts,
icons and search are its own local files.
"""

project = "XAI for Health"
author = "XAI for Health contributors"
copyright = "XAI for Health contributors; code MIT, course text and figures CC BY 4.0"

extensions = ["myst_nb"]
root_doc = "index"
exclude_patterns = ["_build", "_extra", "**.ipynb_checkpoints"]

# MyST-NB: read the stored outputs, never execute; `remove-input`/`remove-cell` tags as on the slides
nb_execution_mode = "off"
nb_ipywidgets_js = {}  # no widget manager (it would come from a CDN); the notebooks have no widgets
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]  # notebooks start at '#' and some sections jump a level

# Maths: Sphinx writes \( \) and \[ \] spans (its MathJax markup); KaTeX's auto-render draws them in the
# browser. `mathjax_path` is the local KaTeX loader, added by Sphinx only to pages that have maths.
mathjax_path = "katex/katex.min.js"
mathjax_options = {"defer": "defer"}
myst_update_mathjax = False
html_css_files = ["katex/katex.min.css"]
html_js_files = [
    ("katex/contrib/auto-render.min.js", {"defer": "defer", "priority": 600}),
    ("katex-render.js", {"defer": "defer", "priority": 601}),
]

html_theme = "sphinx_book_theme"
html_title = "XAI for Health"
html_logo = "_static/logo.svg"
html_static_path = ["_static"]
html_extra_path = ["_extra"]  # the slides, copied as they are -> slides/
html_last_updated_fmt = None
html_show_sourcelink = False
html_copy_source = False
html_context = {"default_mode": "light"}  # figures are drawn on white; an unset mode logs a console error
html_show_search_summary = False  # the summary fetches each hit's page, which a browser refuses on file://
html_theme_options = {
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "launch_buttons": {},
    "navigation_with_keys": False,
    "icon_links": [],
}
