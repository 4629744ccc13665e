/*
 * Serial input test guest (PVH entry): prints READY, reads bytes from COM1 (polling LSR.DR)
 * until a newline, prints ECHO=<line>, then resets.
 */
        .include "macros32.inc"
        PVH_NOTE pvh_start

        .set    LINE, 0x7000

        .text
        .code32
        .globl  pvh_start
pvh_start:
        mov     $0x80000, %esp
        PUTS32  s_ready
        mov     $LINE, %edi
1:      mov     $0x3fd, %dx                     /* LSR */
2:      inb     %dx, %al
        test    $1, %al                         /* data ready */
        jz      2b
        mov     $0x3f8, %dx
        inb     %dx, %al
        cmp     $'\n', %al
        je      3f
        movb    %al, (%edi)
        inc     %edi
        cmp     $(LINE + 64), %edi
        jb      1b
3:      movb    $0, (%edi)
        PUTS32  s_echo
        mov     $LINE, %esi
        call    puts32
        call    newline32
        jmp     reset32

        .include "lib32.inc"
        .section .rodata
s_ready: .asciz "READY\n"
s_echo:  .asciz "ECHO="
