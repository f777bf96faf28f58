# report (see framework/socfw/ for its public header)
