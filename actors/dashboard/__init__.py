"""The web dashboard add-on: the cluster drawn live in a browser, with its controls and chaos buttons."""
