"""Development entry: `panel serve app/serve.py --autoreload`."""

import panel as pn

from app.main import build_app

build_app(pn.state.location.search if pn.state.location else "").servable(title="Where Facts Live")
