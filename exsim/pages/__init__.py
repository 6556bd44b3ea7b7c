"""Teaching pages: one self-contained HTML file per comparison, scenario or replay report,
read from finished run directories (the last stage of the pipeline; nothing in the engine
imports it). :mod:`exsim.pages.data` builds the page document, :mod:`exsim.pages.html`
renders it."""
