"""Interactive map pages: Folium map building, offline assets, thumbnails.

Server-side only (imports folium); ``server/pages.py`` turns requests into
calls here. Map definitions come from ``layers.maps`` — maps are data.
"""
