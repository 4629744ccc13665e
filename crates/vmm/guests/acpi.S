/*
 * ACPI / MP table walker (64-bit entry, ELF without PVH note, linked by elf64.ld).
 * Finds the RSDP by scanning 0xe0000..0xfffff as an OS does, checks every checksum, follows
 * XSDT -> FADT -> DSDT and MADT, counts LNRO0005 (virtio-mmio) devices in the DSDT and local
 * APICs in the MADT, then finds the MP floating pointer in the EBDA and counts processors.
 * Prints KEY=hex lines, then resets.
 */
        .include "macros64.inc"
        .text
        .code64
        .globl  startup_64
startup_64:
        mov     $0x80000, %rsp
        mov     0x70(%rsi), %rax        /* boot_params.acpi_rsdp_addr */
        PUTS    s_hello
        KV      s_zprsdp
        mov     $0xe0000, %rbx
        movabs  $0x2052545020445352, %rcx       /* "RSD PTR " */
1:      cmp     $0x100000, %rbx
        jae     no_rsdp
        cmp     (%rbx), %rcx
        je      2f
        add     $16, %rbx
        jmp     1b
2:      mov     %rbx, %rax
        KV      s_rsdp
        mov     %rbx, %rsi
        mov     $20, %ecx
        call    csum
        KV      s_rsdpsum
        mov     %rbx, %rsi
        mov     $36, %ecx
        call    csum
        KV      s_rsdpxsum
        mov     24(%rbx), %r12
        mov     %r12, %rdi
        call    table
        movl    4(%r12), %r13d
        sub     $36, %r13
        shr     $3, %r13
        lea     36(%r12), %r14
3:      test    %r13, %r13
        jz      mp
        mov     (%r14), %rdi
        call    table
        cmpl    $0x50434146, (%rdi)     /* FACP */
        jne     4f
        mov     %rdi, 0x7f00            /* remember the FADT */
        mov     140(%rdi), %rdi         /* X_DSDT */
        call    table
        call    count_lnro
        KV      s_virtio
        call    count_s5
        KV      s_s5
        jmp     5f
4:      cmpl    $0x43495041, (%rdi)     /* APIC */
        jne     5f
        call    count_lapic
        KV      s_madtcpus
5:      add     $8, %r14
        dec     %r13
        jmp     3b

mp:     mov     $0x9fc00, %rbx
1:      cmp     $0xa0000, %rbx
        jae     no_mp
        cmpl    $0x5f504d5f, (%rbx)     /* "_MP_" */
        je      2f
        add     $16, %rbx
        jmp     1b
2:      mov     %rbx, %rax
        KV      s_mp
        mov     %rbx, %rsi
        mov     $16, %ecx
        call    csum
        KV      s_mpsum
        movl    4(%rbx), %ebx           /* config table */
        mov     %rbx, %rsi
        movzwl  4(%rbx), %ecx
        call    csum
        KV      s_mpcsum
        movzwl  34(%rbx), %ecx          /* entry count */
        lea     44(%rbx), %rsi
        xor     %eax, %eax
3:      test    %ecx, %ecx
        jz      4f
        cmpb    $0, (%rsi)
        jne     5f
        inc     %eax
        add     $20, %rsi
        dec     %ecx
        jmp     3b
5:      add     $8, %rsi
        dec     %ecx
        jmp     3b
4:      KV      s_mpcpus
        PUTS    s_done
        /* Power off through the FADT's sleep control register (\_S5, SLP_EN). */
        mov     0x7f00, %rdi
        movzbl  244(%rdi), %eax         /* GAS address space: 1 = system I/O */
        KV      s_sleepspace
        mov     248(%rdi), %rax
        KV      s_sleepport
        mov     %eax, %edx
        mov     $0x34, %al              /* SLP_TYP 5 << 2 | SLP_EN */
        outb    %al, %dx
        PUTS    s_ignored
1:      cli
        hlt
        jmp     1b
no_rsdp:
        PUTS    s_nordsp
        jmp     reset
no_mp:
        PUTS    s_nomp
        jmp     reset

/* csum: byte sum of %rcx bytes at %rsi -> %rax */
csum:
        xor     %eax, %eax
        xor     %edx, %edx
1:      test    %rcx, %rcx
        jz      2f
        movb    (%rsi), %dl
        add     %dl, %al
        inc     %rsi
        dec     %rcx
        jmp     1b
2:      movzbl  %al, %eax
        ret

/* table: print "TABLE=SIG LEN SUM" for the table at %rdi (preserved) */
table:
        push    %rdi
        PUTS    s_table
        mov     (%rsp), %rsi
        mov     $4, %ecx
        call    putn
        call    space
        mov     (%rsp), %rdi
        movl    4(%rdi), %eax
        call    puthex
        call    space
        mov     (%rsp), %rsi
        movl    4(%rsi), %ecx
        call    csum
        call    puthex
        call    newline
        pop     %rdi
        ret

/* count_lnro: occurrences of "LNRO0005" in the table at %rdi -> %rax */
count_lnro:
        movl    4(%rdi), %ecx
        sub     $8, %ecx
        xor     %eax, %eax
        movabs  $0x353030304f524e4c, %rdx
        mov     %rdi, %rsi
1:      test    %ecx, %ecx
        jz      2f
        cmp     (%rsi), %rdx
        jne     3f
        inc     %eax
3:      inc     %rsi
        dec     %ecx
        jmp     1b
2:      ret

/* count_s5: occurrences of the name "_S5_" in the table at %rdi -> %rax */
count_s5:
        movl    4(%rdi), %ecx
        sub     $4, %ecx
        xor     %eax, %eax
        mov     %rdi, %rsi
1:      test    %ecx, %ecx
        jz      2f
        cmpl    $0x5f35535f, (%rsi)     /* "_S5_" */
        jne     3f
        inc     %eax
3:      inc     %rsi
        dec     %ecx
        jmp     1b
2:      ret

/* count_lapic: type-0 entries of the MADT at %rdi -> %rax */
count_lapic:
        movl    4(%rdi), %ecx
        lea     (%rdi,%rcx), %rdx       /* end */
        lea     44(%rdi), %rsi
        xor     %eax, %eax
1:      cmp     %rdx, %rsi
        jae     2f
        cmpb    $0, (%rsi)
        jne     3f
        inc     %eax
3:      movzbl  1(%rsi), %ecx
        test    %ecx, %ecx
        jz      2f
        add     %rcx, %rsi
        jmp     1b
2:      ret

        .include "lib64.inc"
        .section .rodata
s_hello:    .asciz "GUEST acpi\n"
s_zprsdp:   .asciz "ZP_RSDP="
s_rsdp:     .asciz "RSDP="
s_rsdpsum:  .asciz "RSDP_SUM="
s_rsdpxsum: .asciz "RSDP_XSUM="
s_table:    .asciz "TABLE="
s_virtio:   .asciz "VIRTIO_MMIO_DEVICES="
s_madtcpus: .asciz "MADT_CPUS="
s_mp:       .asciz "MP="
s_mpsum:    .asciz "MP_SUM="
s_mpcsum:   .asciz "MP_TABLE_SUM="
s_mpcpus:   .asciz "MP_CPUS="
s_nordsp:   .asciz "NO RSDP\n"
s_nomp:     .asciz "NO MP\n"
s_done:     .asciz "DONE\n"
s_s5:       .asciz "S5_OBJECTS="
s_sleepspace: .asciz "SLEEP_REG_SPACE="
s_sleepport:  .asciz "SLEEP_REG_PORT="
s_ignored:  .asciz "POWEROFF IGNORED\n"
