/*
 * Counting guest for pause/resume and snapshot/restore (PVH entry). Prints COUNT=n for
 * n = 1..40, waiting ~200M TSC cycles between lines, then DONE and resets. The counter lives
 * in a register and in memory, so a restored VM continues where the snapshot left it.
 */
        .include "macros32.inc"
        PVH_NOTE pvh_start

        .set    COUNTER, 0x7f00
        .set    LIMIT, 40

        .text
        .code32
        .globl  pvh_start
pvh_start:
        mov     $0x80000, %esp
        PUTS32  s_hello
        movl    $1, COUNTER
1:      mov     COUNTER, %eax
        KV32    s_count
        rdtsc
        mov     %eax, %esi
        mov     %edx, %edi
2:      rdtsc
        sub     %esi, %eax
        sbb     %edi, %edx
        jnz     3f                      /* more than 2^32 cycles passed */
        cmp     $200000000, %eax
        jb      2b
3:      incl    COUNTER
        cmpl    $LIMIT, COUNTER
        jbe     1b
        PUTS32  s_done
        jmp     reset32

        .include "lib32.inc"
        .section .rodata
s_hello:  .asciz "GUEST count\n"
s_count:  .asciz "COUNT="
s_done:   .asciz "DONE\n"
