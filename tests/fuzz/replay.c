/* replay.c - a plain main() for fuzz targets: feeds every file of the corpus directories
 * (or files) named on the command line to LLVMFuzzerTestOneInput once, printing TAP, so
 * old crashes stay fixed under gcc and the sanitizers without libFuzzer. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int n;

static void run_file(const char *path)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		return;
	}
	buf = malloc((size_t) st.st_size + 1);
	if (!buf || read(fd, buf, (size_t) st.st_size) != st.st_size) {
		printf("not ok %d - %s # read: %s\n", ++n, path, strerror(errno));
		free(buf);
		close(fd);
		return;
	}
	close(fd);
	(void) LLVMFuzzerTestOneInput(buf, (size_t) st.st_size);
	free(buf);
	printf("ok %d - %s\n", ++n, path);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 1; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		struct dirent *de;
		if (!d) {
			run_file(argv[i]);
			continue;
		}
		while ((de = readdir(d))) {
			char p[4096];
			if (de->d_name[0] == '.')
				continue;
			(void) snprintf(p, sizeof(p), "%s/%s", argv[i], de->d_name);
			run_file(p);
		}
		closedir(d);
	}
	printf("1..%d\n", n);
	return 0;
}
