"""The parts of the patient's timeline picture; ``patients.timeline_picture`` is the way in.

One module per part, each importing only its neighbours here and the standard library:

- ``data``: the plain input (treatments, scans, numbered draws) and how a draw reads
- ``svg``: escaping, number formatting, text width estimates, the ``<svg>`` opening
- ``words``: clinical names and the ``<desc>`` a screen reader announces
- ``layout``: the shared date axis, the log VAF scale, stacking, date ticks, row sizes
- ``treatments``, ``scans``, ``draws``, ``vaf``, ``axis``, ``legend``: one section each,
  top to bottom, each first placing its marks (plain numbers) and then writing them
- ``picture``: stacks the sections and wraps them in the ``<svg>`` element
"""
