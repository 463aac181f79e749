"""``sweepcli ui``: the live local web page (``server.py``: the app and its rules;
``live.py``: what an open page is sent, read incrementally; ``page.html``, ``ui.js``,
``ui.css``: the page). Needs the ``ui`` extra (aiohttp, plotly)."""
