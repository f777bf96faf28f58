# doc/: user guide, references, man page
