"""The API server (issue 4): pure cores first — selectors, patches, allocators,
validation — then the broker actor."""
