/* socfw - command-line program (placeholder until the CLI lands). */
#include <stdio.h>
int main(void) { puts("socfw"); return 0; }
