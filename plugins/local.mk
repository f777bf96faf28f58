# plugins/: loadable task plugins (one folder each).
