/* A library with thread-local storage, copied under many names by test_run.py for run_dlopen_tls.c. */
char *tls_get(void);

static __thread char tls_buf[4096];

char *tls_get(void)
{
    return tls_buf;
}
