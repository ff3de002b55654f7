"""The Python half of the page's worker (build/web/worker.js), by room:

- `boot`: what the worker calls: build the app, link it, each message.
- `link`: a reader's change in as one patch, everything it redrew out as one.
- `encoding`: patches as JSON text and buffers; comparing two.
- `foresight`: slider steps worked out ahead (sliders marked FORESEEN).
- `tuning`: every change to Panel's and Bokeh's internals, each a named
  unit that stays off when the library differs from the pinned one.
- `pyodide_tuning`: the same for Pyodide.
"""
