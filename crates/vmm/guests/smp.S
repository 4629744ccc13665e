/*
 * SMP test guest (PVH entry on the BSP). Copies a real-mode trampoline to 0x8000, starts
 * vCPU 1 with INIT + STARTUP IPIs (vector 8) through the local APIC's ICR, and waits for
 * the AP to report its APIC id (read with CPUID) through memory. Prints KEY=hex lines.
 */
        .include "macros32.inc"
        PVH_NOTE pvh_start

        .set    FLAG, 0x7f00
        .set    APID, 0x7f04
        .set    LAPIC, 0xfee00000

        .text
        .code32
        .globl  pvh_start
pvh_start:
        mov     $0x80000, %esp
        PUTS32  s_hello
        mov     $tramp_start, %esi
        mov     $0x8000, %edi
        mov     $(tramp_end - tramp_start), %ecx
1:      movb    (%esi), %al
        movb    %al, (%edi)
        inc     %esi
        inc     %edi
        dec     %ecx
        jnz     1b
        movl    $0, FLAG
        mov     LAPIC + 0x20, %eax
        shr     $24, %eax
        KV32    s_bsp
        movl    $0x01000000, LAPIC + 0x310
        movl    $0x00004500, LAPIC + 0x300      /* INIT, assert */
        movl    $0x01000000, LAPIC + 0x310
        movl    $0x00004608, LAPIC + 0x300      /* STARTUP, vector 8 -> 0x8000 */
        rdtsc                                   /* give up after ~2^33 TSC cycles */
        mov     %edx, %ecx
2:      cmpl    $0x600d, FLAG
        je      3f
        rdtsc
        sub     %ecx, %edx
        cmp     $2, %edx
        jb      2b
        PUTS32  s_timeout
        jmp     reset32
3:      mov     APID, %eax
        KV32    s_ap
        PUTS32  s_done
        jmp     reset32

        .code16
tramp_start:
        cli
        xor     %ax, %ax
        mov     %ax, %ds
        mov     $1, %eax
        cpuid
        shr     $24, %ebx
        movl    %ebx, APID
        movl    $0x600d, FLAG
1:      hlt
        jmp     1b
tramp_end:
        .code32

        .include "lib32.inc"
        .section .rodata
s_hello:   .asciz "GUEST smp\n"
s_bsp:     .asciz "BSP_APIC_ID="
s_ap:      .asciz "AP_APIC_ID="
s_timeout: .asciz "AP TIMEOUT\n"
s_done:    .asciz "DONE\n"
