/*
 * 64-bit Linux boot protocol test guest. Entered like a kernel's startup_64: long mode,
 * paging on, RSI = boot_params (zero page). Prints what it finds as KEY=hex lines for the
 * tests to compare with what the VMM should have set up, then resets through the i8042.
 * Built twice: as a bzImage (bzimage.ld, setup header below) and as an ELF without a PVH
 * note (elf64.ld).
 */
        .include "macros64.inc"
        .section .setup, "ax"
        .code16
setup_start:
        .org    0x1f1
        .byte   1                       /* setup_sects: boot sector + 1 setup sector */
        .word   0                       /* root_flags */
        .long   0                       /* syssize */
        .word   0                       /* ram_size */
        .word   0                       /* vid_mode */
        .word   0                       /* root_dev */
        .word   0xaa55                  /* boot_flag */
        .byte   0xeb, 0x00              /* jump */
        .ascii  "HdrS"                  /* header */
        .word   0x020f                  /* version */
        .long   0                       /* realmode_swtch */
        .word   0                       /* start_sys_seg */
        .word   0                       /* kernel_version */
        .byte   0                       /* type_of_loader */
        .byte   1                       /* loadflags: LOADED_HIGH */
        .word   0                       /* setup_move_size */
        .long   0x100000                /* code32_start */
        .long   0                       /* ramdisk_image */
        .long   0                       /* ramdisk_size */
        .long   0                       /* bootsect_kludge */
        .word   0                       /* heap_end_ptr */
        .byte   0                       /* ext_loader_ver */
        .byte   0                       /* ext_loader_type */
        .long   0                       /* cmd_line_ptr */
        .long   0x7fffffff              /* initrd_addr_max */
        .long   0x200000                /* kernel_alignment */
        .byte   0                       /* relocatable_kernel */
        .byte   0                       /* min_alignment */
        .word   1                       /* xloadflags: XLF_KERNEL_64 */
        .long   4095                    /* cmdline_size */
        .org    0x400

        .text
        .code64
        .globl  startup_32
startup_32:                             /* the 32-bit entry is not used */
        hlt
        jmp     startup_32
        .org    0x200
        .globl  startup_64
startup_64:
        mov     %rsi, %r15
        mov     $0x80000, %rsp
        PUTS    s_hello
        mov     %cr0, %rax
        KV      s_cr0
        mov     %cr4, %rax
        KV      s_cr4
        mov     $0xc0000080, %ecx
        rdmsr
        shl     $32, %rdx
        or      %rdx, %rax
        KV      s_efer
        xor     %eax, %eax
        mov     %cs, %ax
        KV      s_cs
        mov     %ds, %ax
        KV      s_ds
        mov     %r15, %rax
        KV      s_zp
        movzwl  0x1fe(%r15), %eax
        KV      s_bootflag
        movl    0x202(%r15), %eax
        KV      s_hdrs
        movzbl  0x210(%r15), %eax
        KV      s_loader
        movl    0x228(%r15), %eax
        KV      s_cmdptr
        PUTS    s_cmdline
        movl    0x228(%r15), %esi
        call    puts
        call    newline
        movl    0x218(%r15), %eax
        KV      s_rd
        movl    0x21c(%r15), %eax
        KV      s_rdsize
        test    %eax, %eax
        jz      1f
        PUTS    s_initrd
        movl    0x218(%r15), %esi
        mov     $16, %ecx
        call    putn
        call    newline
1:      movzbl  0x1e8(%r15), %eax
        KV      s_e820n
        movzbl  0x1e8(%r15), %r14d
        lea     0x2d0(%r15), %r13
2:      test    %r14, %r14
        jz      3f
        PUTS    s_e820
        mov     (%r13), %rax
        call    puthex
        call    space
        mov     8(%r13), %rax
        call    puthex
        call    space
        movl    16(%r13), %eax
        call    puthex
        call    newline
        add     $20, %r13
        dec     %r14
        jmp     2b
3:      mov     $1, %eax
        cpuid
        mov     %ecx, %eax
        KV      s_cpuid1c
        mov     $0x1a0, %ecx
        rdmsr
        KV      s_misc
        PUTS    s_done
        jmp     reset

        .include "lib64.inc"

        .section .rodata
s_hello:    .asciz "GUEST linux64\n"
s_cr0:      .asciz "CR0="
s_cr4:      .asciz "CR4="
s_efer:     .asciz "EFER="
s_cs:       .asciz "CS="
s_ds:       .asciz "DS="
s_zp:       .asciz "ZEROPAGE="
s_bootflag: .asciz "BOOTFLAG="
s_hdrs:     .asciz "HDRS="
s_loader:   .asciz "LOADER="
s_cmdptr:   .asciz "CMDLINE_PTR="
s_cmdline:  .asciz "CMDLINE="
s_rd:       .asciz "RAMDISK="
s_rdsize:   .asciz "RAMDISK_SIZE="
s_initrd:   .asciz "INITRD="
s_e820n:    .asciz "E820_ENTRIES="
s_e820:     .asciz "E820="
s_cpuid1c:  .asciz "CPUID1_ECX="
s_misc:     .asciz "MISC_ENABLE="
s_done:     .asciz "DONE\n"
