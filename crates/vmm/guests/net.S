/*
 * virtio-net test driver (64-bit entry, elf64.ld). Finds the first virtio-mmio device with
 * device id 1, sets up RX (8 buffers of 2 KiB) and TX queues, sends one ICMP echo request
 * (10.77.0.2 -> 10.77.0.1, to MAC 02:00:00:00:00:01), then waits for an IPv4 ICMP frame on
 * RX and prints what it got as KEY=hex lines, then resets.
 */
        .include "macros64.inc"
        .set    QSZ, 8
        .text
        .code64
        .globl  startup_64
startup_64:
        mov     $0x80000, %rsp
        PUTS    s_hello
        VIRTIO_FIND 1
found:  mov     $0x400000, %r12
        VIRTIO_NEGOTIATE
        xor     %eax, %eax                      /* queue 0 (RX) at r12 */
        lea     0(%r12), %rdx
        call    setup_queue
        mov     $1, %eax                        /* queue 1 (TX) at r12 + 0x1000 */
        lea     0x1000(%r12), %rdx
        call    setup_queue
        movl    $0xf, 0x70(%rbx)
        movl    0x70(%rbx), %eax
        KV      s_status
        movl    0x100(%rbx), %eax               /* MAC bytes 0..3 */
        movzwl  0x104(%rbx), %edx               /* MAC bytes 4..5 */
        shl     $32, %rdx
        or      %rdx, %rax
        KV      s_mac
        /* RX: 8 writable buffers of 2 KiB at r12 + 0x4000 */
        xor     %ecx, %ecx
2:      mov     %rcx, %rax
        shl     $11, %rax
        lea     0x4000(%r12,%rax), %rax
        mov     %rcx, %rdx
        shl     $4, %rdx
        mov     %rax, 0(%r12,%rdx)
        movl    $2048, 8(%r12,%rdx)
        movw    $2, 12(%r12,%rdx)
        movw    %cx, 0x104(%r12,%rcx,2)
        inc     %ecx
        cmp     $QSZ, %ecx
        jb      2b
        movw    $QSZ, 0x102(%r12)
        movl    $0, 0x50(%rbx)                  /* notify RX */
        /* TX: 12-byte zero header + the frame at r12 + 0x6000 */
        lea     frame(%rip), %rsi
        lea     0x600c(%r12), %rdi
        mov     $(frame_end - frame), %ecx
3:      movb    (%rsi), %al
        movb    %al, (%rdi)
        inc     %rsi
        inc     %rdi
        dec     %ecx
        jnz     3b
        lea     0x6000(%r12), %rax
        mov     %rax, 0x1000(%r12)
        movl    $(12 + frame_end - frame), 0x1008(%r12)
        movw    $0, 0x100c(%r12)
        movw    $0, 0x1104(%r12)
        movw    $1, 0x1102(%r12)
        movl    $1, 0x50(%rbx)                  /* notify TX */
        movzwl  0x1202(%r12), %eax
        KV      s_txused
        /* Wait for frames; look at each for IPv4 ICMP. */
        xor     %r13d, %r13d                    /* used entries seen */
        rdtsc                                   /* give up after ~2^34 TSC cycles */
        mov     %edx, %r14d
4:      movzwl  0x202(%r12), %eax
        cmp     %r13d, %eax
        jne     5f
        rdtsc
        sub     %r14d, %edx
        cmp     $4, %edx
        jb      4b
        PUTS    s_timeout
        jmp     reset
5:      mov     %r13d, %ecx
        and     $(QSZ - 1), %ecx
        movl    0x204(%r12,%rcx,8), %eax        /* used id */
        movl    0x208(%r12,%rcx,8), %r15d       /* used len */
        inc     %r13d
        shl     $11, %rax
        lea     0x4000(%r12,%rax), %rsi         /* buffer */
        movzwl  24(%rsi), %eax
        cmp     $0x0008, %eax                   /* ethertype 0x0800, big endian */
        jne     4b
        cmpb    $1, 35(%rsi)                    /* IP protocol ICMP */
        jne     4b
        mov     %rsi, %rbp
        mov     %r15, %rax
        KV      s_rxlen
        movzbl  46(%rbp), %eax
        KV      s_icmptype
        movl    38(%rbp), %eax
        KV      s_srcip
        movzwl  50(%rbp), %eax
        KV      s_icmpid
        PUTS    s_done
        jmp     reset

        .include "vqueue64.inc"

        .include "lib64.inc"
        .section .rodata
frame:
        .byte 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x00
        .byte 0x45, 0x00, 0x00, 0x1c, 0x00, 0x01, 0x00, 0x00, 0x40, 0x01, 0x66, 0x44
        .byte 0x0a, 0x4d, 0x00, 0x02, 0x0a, 0x4d, 0x00, 0x01
        .byte 0x08, 0x00, 0xe5, 0xca, 0x12, 0x34, 0x00, 0x01
frame_end:
s_hello:    .asciz "GUEST net\n"
s_nodev:    .asciz "NO NET DEVICE\n"
s_status:   .asciz "STATUS="
s_mac:      .asciz "MAC="
s_txused:   .asciz "TX_USED="
s_timeout:  .asciz "RX TIMEOUT\n"
s_rxlen:    .asciz "RX_LEN="
s_icmptype: .asciz "ICMP_TYPE="
s_srcip:    .asciz "SRC_IP="
s_icmpid:   .asciz "ICMP_ID="
s_done:     .asciz "DONE\n"
