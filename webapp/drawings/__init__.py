"""Drawing sheets generated as vector PDFs (reportlab): the demo drawing set and synthesized crops.

Nothing here answers a request; `webapp.documents` reads drawing sets, this package makes them.
Its two users:

- `flask demo` (`cli.py`) builds the demo set (`demo_set.py`: the document in the real formats,
  its text in `demo_text.py`, its plan, section and node drawn by `demo_sheets.py`) and imports it.
  Tests and the benchmarks in `scripts/bench/` build it too.
- `flask projects import --synthesize-crops` (`webapp.projects.importer`) draws a sheet for every
  image block whose crop is missing (`synthetic_crops.py`).

`sheet.py` is what both draw on: fonts, sheet formats, the frame and the title block. The modules
import reportlab, so this package imports none of them itself.
"""
