# doc/: user guide, references, man page
dist_man_MANS += doc/socfw.1
dist_doc_DATA += doc/guide.md doc/pipeline.md doc/plugin-guide.md \
	doc/performance.md
