"""The layer catalogue: manifests, attribute tables, the join, the data build."""
