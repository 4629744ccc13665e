/*
 * PVH boot test guest: entered in 32-bit protected mode, paging off, EBX = hvm_start_info.
 * Prints the entry state and the start_info contents as KEY=hex lines, then resets.
 */
        .include "macros32.inc"
        PVH_NOTE pvh_start

        .text
        .code32
        .globl  pvh_start
pvh_start:
        mov     %ebx, %edi
        mov     $0x80000, %esp
        PUTS32  s_hello
        mov     %cr0, %eax
        KV32    s_cr0
        xor     %eax, %eax
        mov     %cs, %ax
        KV32    s_cs
        mov     %edi, %eax
        KV32    s_info
        mov     0(%edi), %eax
        KV32    s_magic
        mov     4(%edi), %eax
        KV32    s_version
        mov     12(%edi), %eax
        KV32    s_nrmod
        mov     24(%edi), %eax
        KV32    s_cmdptr
        PUTS32  s_cmdline
        mov     24(%edi), %esi
        call    puts32
        call    newline32
        mov     32(%edi), %eax
        KV32    s_rsdp
        mov     48(%edi), %eax
        KV32    s_mmn
        mov     48(%edi), %ebp
        mov     40(%edi), %ebx
1:      test    %ebp, %ebp
        jz      2f
        PUTS32  s_e820
        mov     4(%ebx), %eax
        call    puthex32
        mov     0(%ebx), %eax
        call    puthex32
        call    space32
        mov     12(%ebx), %eax
        call    puthex32
        mov     8(%ebx), %eax
        call    puthex32
        call    space32
        mov     16(%ebx), %eax
        call    puthex32
        call    newline32
        add     $24, %ebx
        dec     %ebp
        jmp     1b
2:      cmpl    $0, 12(%edi)
        je      3f
        mov     16(%edi), %ebx          /* modlist */
        mov     0(%ebx), %eax
        KV32    s_modaddr
        mov     8(%ebx), %eax
        KV32    s_modsize
        PUTS32  s_initrd
        mov     0(%ebx), %esi
        mov     $16, %ecx
        call    putn32
        call    newline32
3:      PUTS32  s_done
        jmp     reset32

        .include "lib32.inc"

        .section .rodata
s_hello:   .asciz "GUEST pvh\n"
s_cr0:     .asciz "CR0="
s_cs:      .asciz "CS="
s_info:    .asciz "START_INFO="
s_magic:   .asciz "MAGIC="
s_version: .asciz "VERSION="
s_nrmod:   .asciz "NR_MODULES="
s_cmdptr:  .asciz "CMDLINE_PTR="
s_cmdline: .asciz "CMDLINE="
s_rsdp:    .asciz "RSDP="
s_mmn:     .asciz "MEMMAP_ENTRIES="
s_e820:    .asciz "E820="
s_modaddr: .asciz "MOD_ADDR="
s_modsize: .asciz "MOD_SIZE="
s_initrd:  .asciz "INITRD="
s_done:    .asciz "DONE\n"
