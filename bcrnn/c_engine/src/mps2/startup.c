/* startup.c: reset and vector table for the driver (bcrnn_run.c) on QEMU's MPS2 Cortex-M boards (mps2.ld), with
 * newlib's semihosting library (librdimon) for stdio and the host's files.
 *
 * Reset: FPU on, .data copied from flash, .bss zeroed, the stack painted with a pattern, the command line read by
 * semihosting (QEMU: -semihosting-config enable=on,arg=bcrnn_run,arg=IN,arg=OUT), main. After main the stack's
 * high-water mark (the lowest word no longer the pattern) and the heap newlib took (stdio buffers) are written to
 * the semihosting console, one line that bcrnn.c_engine.cross parses:
 *     bcrnn_run memory: stack_peak BYTES stack_size BYTES heap BYTES
 * and QEMU exits with main's status. A fault prints its name and status registers and exits with 1.
 */
#include <stdint.h>

extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[];
extern uint32_t __stack_limit[], __stack_top[];
extern char end[];
extern void *__heap_limit; /* librdimon's _sbrk refuses to grow past it */
extern void initialise_monitor_handles(void);
extern void *_sbrk(int increment);
extern int main(int argc, char **argv);

#define PAINT 0xC5A3E17Bu
#define SYS_WRITE0 0x04
#define SYS_GET_CMDLINE 0x15
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026

static int semihost(int op, const void *arg) {
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static void say(const char *text) { semihost(SYS_WRITE0, text); }

static void say_number(const char *label, uint32_t v) {
    char buf[16], *p = buf + sizeof buf;
    *--p = 0;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    say(label);
    say(p);
}

static void __attribute__((noreturn)) leave(int status) {
    const uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)status};
    for (;;) semihost(SYS_EXIT_EXTENDED, block);
}

static void __attribute__((noreturn)) fault(const char *name) {
    volatile const uint32_t *scb = (volatile const uint32_t *)0xE000ED28u; /* CFSR, HFSR, DFSR, MMFAR, BFAR */
    say("bcrnn_run: ");
    say(name);
    say_number(" CFSR ", scb[0]);
    say_number(" HFSR ", scb[1]);
    say_number(" BFAR ", scb[4]);
    say("\n");
    leave(1);
}

static void on_nmi(void) { fault("NMI"); }
static void on_hard_fault(void) { fault("HardFault"); }
static void on_mem_manage(void) { fault("MemManage fault"); }
static void on_bus_fault(void) { fault("BusFault"); }
static void on_usage_fault(void) { fault("UsageFault"); }
static void on_other(void) { fault("unexpected exception"); }

void bcrnn_reset(void);

typedef struct {
    void *initial_sp;
    void (*handlers[15])(void);
} vector_table;

__attribute__((section(".vectors"), used)) const vector_table bcrnn_vectors = {
    __stack_top,
    {bcrnn_reset, on_nmi, on_hard_fault, on_mem_manage, on_bus_fault, on_usage_fault, 0, 0, 0, 0, on_other, on_other,
     0, on_other, on_other},
};

/* the semihosting command line split at spaces into argv */
static int command_line(char **argv, int max) {
    static char text[512];
    struct {
        char *buf;
        int len;
    } block = {text, (int)sizeof text - 1};
    int argc = 0;
    if (semihost(SYS_GET_CMDLINE, &block) != 0) return 0;
    text[block.len < 0 ? 0 : block.len] = 0;
    for (char *p = text; *p && argc < max;) {
        while (*p == ' ') *p++ = 0;
        if (!*p) break;
        argv[argc++] = p;
        while (*p && *p != ' ') p++;
    }
    return argc;
}

void bcrnn_reset(void) {
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20; /* CPACR: CP10, CP11 full access (the FPU) */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    for (uint32_t *s = __data_load, *d = __data_start; d < __data_end;) *d++ = *s++;
    for (uint32_t *d = __bss_start; d < __bss_end;) *d++ = 0;
    uint32_t *sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (volatile uint32_t *p = __stack_limit; p < (uint32_t *)sp - 16;) *p++ = PAINT; /* 64 bytes below this frame */
    __heap_limit = __stack_limit;

    initialise_monitor_handles();
    static char *argv[9];
    const int argc = command_line(argv, 8);
    const int status = main(argc, argv);

    const uint32_t *low = __stack_limit;
    while (low < __stack_top && *low == PAINT) low++;
    const uint32_t heap = (uint32_t)((char *)_sbrk(0) - end);
    say_number("bcrnn_run memory: stack_peak ", (uint32_t)((char *)__stack_top - (char *)low));
    say_number(" stack_size ", (uint32_t)((char *)__stack_top - (char *)__stack_limit));
    say_number(" heap ", heap);
    say("\n");
    if (low == __stack_limit) {
        say("bcrnn_run: the stack reached its limit (overflow): link with a larger __stack_size\n");
        leave(1);
    }
    leave(status);
}
