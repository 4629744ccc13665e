/*
 * PVH guest that ends abnormally, to test the VMM's distinct exit statuses.
 * Assemble with --defsym MODE=n:
 *   1 triple fault: load an empty IDT, then ud2 (#UD -> #DF -> shutdown)
 *   2 guest panic: write 1 to the pvpanic port 0x505
 *   3 SSE at CPL 0 (on PVM hosts a KVM internal error; elsewhere it runs and resets)
 */
        .include "macros32.inc"
        PVH_NOTE pvh_start

        .text
        .code32
        .globl  pvh_start
pvh_start:
        mov     $0x80000, %esp
        PUTS32  s_hello
.if MODE == 1
        lidt    idt_null
        ud2
.endif
.if MODE == 2
        mov     $1, %al
        mov     $0x505, %dx
        outb    %al, %dx
.endif
.if MODE == 3
        mov     %cr4, %eax
        or      $0x600, %eax            /* OSFXSR | OSXMMEXCPT */
        mov     %eax, %cr4
        xorps   %xmm0, %xmm0
        PUTS32  s_sse
.endif
        jmp     reset32

        .include "lib32.inc"
        .section .rodata
idt_null:  .word 0
           .long 0
s_hello:   .asciz "GUEST stop\n"
s_sse:     .asciz "SSE-RAN\n"
