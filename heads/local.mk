# heads/: loadable output layers and their losses (one folder each).
