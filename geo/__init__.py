"""Pure geospatial logic for planview: datums, CRS, schematics, readers, overlay.

Nothing here imports a web framework or a map widget; callers pass arguments.
"""
