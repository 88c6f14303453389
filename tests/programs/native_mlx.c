/* A native (not Python) "trainer" for `attach` tests: it loads libmlx.so (argv[1]) so it is an
   MLX program, prints `step N loss X` every 50 ms; with "stall" it stops after step 5 (pause). */
#include <dlfcn.h>
#include <stdio.h>
#include <unistd.h>
#include <string.h>
int main(int argc, char **argv) {
  if (!dlopen(argv[1], RTLD_NOW)) { fprintf(stderr, "%s\n", dlerror()); return 2; }
  int stall = argc > 2 && strcmp(argv[2], "stall") == 0;
  for (int step = 1; ; step++) {
    if (stall && step > 5) pause();
    printf("step %d loss %.4f\n", step, 5.0 / step); fflush(stdout);
    usleep(50000);
  }
}
