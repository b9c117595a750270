#include <stdio.h>
int main(void)
{
	printf("mayfly %s\n", MAYFLY_VERSION);
	return 0;
}
