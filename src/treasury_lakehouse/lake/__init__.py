"""The lake on disk: paths, atomic writes and versioned publishing, manifests, the home lock."""
