/*
 * virtio-vsock test guest (64-bit entry, elf64.ld): an echo server for host-initiated
 * connections. Finds device id 19, prints its CID and READY, then answers REQUEST with
 * RESPONSE, echoes every RW payload back (printing it as GOT=), and on SHUTDOWN/RST prints
 * CLOSED, sends RST and resets.
 */
        .include "macros64.inc"
        .set    QSZ, 8
        .set    NBUF, 4
        .set    FWD, 0x7000                     /* offset of our fwd_cnt from r12 */
        .text
        .code64
        .globl  startup_64
startup_64:
        mov     $0x80000, %rsp
        PUTS    s_hello
        VIRTIO_FIND 19
found:  mov     $0x400000, %r12
        VIRTIO_NEGOTIATE
        xor     %eax, %eax
        lea     0(%r12), %rdx
        call    setup_queue
        mov     $1, %eax
        lea     0x1000(%r12), %rdx
        call    setup_queue
        mov     $2, %eax
        lea     0x2000(%r12), %rdx
        call    setup_queue
        movl    $0xf, 0x70(%rbx)
        mov     0x100(%rbx), %eax               /* guest_cid (low) */
        mov     %rax, %r15
        KV      s_cid
        xor     %ecx, %ecx                      /* RX buffers */
2:      mov     %rcx, %rax
        shl     $9, %rax
        lea     0x4000(%r12,%rax), %rax
        mov     %rcx, %rdx
        shl     $4, %rdx
        mov     %rax, 0(%r12,%rdx)
        movl    $0x200, 8(%r12,%rdx)
        movw    $2, 12(%r12,%rdx)
        movw    %cx, 0x104(%r12,%rcx,2)
        inc     %ecx
        cmp     $NBUF, %ecx
        jb      2b
        movw    $NBUF, 0x102(%r12)
        movl    $0, 0x50(%rbx)
        PUTS    s_ready
        xor     %r13d, %r13d                    /* used entries consumed */
loop:   rdtsc                                   /* give up after ~2^36 TSC cycles */
        mov     %edx, %r14d
3:      movzwl  0x202(%r12), %eax
        cmp     %r13d, %eax
        jne     4f
        rdtsc
        sub     %r14d, %edx
        cmp     $16, %edx
        jb      3b
        PUTS    s_timeout
        jmp     reset
4:      mov     %r13d, %ecx
        and     $(QSZ - 1), %ecx
        movl    0x204(%r12,%rcx,8), %eax        /* descriptor id = buffer index */
        inc     %r13d
        mov     %rax, %rbp                      /* keep the id */
        shl     $9, %rax
        lea     0x4000(%r12,%rax), %rsi         /* packet */
        mov     %rsi, %r10
        movzwl  30(%r10), %eax                  /* op */
        cmp     $1, %eax
        je      op_request
        cmp     $5, %eax
        je      op_rw
        cmp     $4, %eax
        je      op_close
        cmp     $3, %eax
        je      op_close
        jmp     repost                          /* credit update/request: ignore */

op_request:
        movl    20(%r10), %eax
        KV      s_request
        mov     $2, %edx                        /* RESPONSE */
        xor     %ecx, %ecx
        call    send
        jmp     repost
op_rw:
        movl    24(%r10), %ecx                  /* len */
        addl    %ecx, FWD(%r12)
        PUTS    s_got
        lea     44(%r10), %rsi
        movl    24(%r10), %ecx
        call    putn
        call    newline
        lea     44(%r10), %rsi                  /* echo the payload */
        lea     0x6000+44(%r12), %rdi
        movl    24(%r10), %ecx
5:      test    %ecx, %ecx
        jz      6f
        movb    (%rsi), %al
        movb    %al, (%rdi)
        inc     %rsi
        inc     %rdi
        dec     %ecx
        jmp     5b
6:      mov     $5, %edx
        movl    24(%r10), %ecx
        call    send
        jmp     repost
op_close:
        movzwl  30(%r10), %eax
        KV      s_closed
        mov     $3, %edx                        /* RST */
        xor     %ecx, %ecx
        call    send
        PUTS    s_done
        jmp     reset

/* repost: give buffer %rbp back to the RX queue */
repost: movzwl  0x102(%r12), %eax
        mov     %eax, %ecx
        and     $(QSZ - 1), %ecx
        movw    %bp, 0x104(%r12,%rcx,2)
        inc     %eax
        movw    %ax, 0x102(%r12)
        movl    $0, 0x50(%rbx)
        jmp     loop

/* send: op %edx, payload length %ecx (payload already at r12+0x6000+44), reply to the
 * packet at %r10 (ports swapped) */
send:
        lea     0x6000(%r12), %rdi
        mov     %r15, 0(%rdi)                   /* src_cid = ours */
        movq    $2, 8(%rdi)                     /* dst_cid = host */
        movl    20(%r10), %eax
        movl    %eax, 16(%rdi)                  /* src_port = their dst_port */
        movl    16(%r10), %eax
        movl    %eax, 20(%rdi)                  /* dst_port = their src_port */
        movl    %ecx, 24(%rdi)
        movw    $1, 28(%rdi)
        movw    %dx, 30(%rdi)
        movl    $0, 32(%rdi)
        movl    $65536, 36(%rdi)
        movl    FWD(%r12), %eax
        movl    %eax, 40(%rdi)
        mov     %rdi, 0x1000(%r12)              /* TX descriptor 0 */
        add     $44, %ecx
        movl    %ecx, 0x1008(%r12)
        movw    $0, 0x100c(%r12)
        movzwl  0x1102(%r12), %eax
        mov     %eax, %ecx
        and     $(QSZ - 1), %ecx
        movw    $0, 0x1104(%r12,%rcx,2)
        inc     %eax
        movw    %ax, 0x1102(%r12)
        movl    $1, 0x50(%rbx)
        ret

        .include "vqueue64.inc"

        .include "lib64.inc"
        .section .rodata
s_hello:   .asciz "GUEST vsock\n"
s_nodev:   .asciz "NO VSOCK DEVICE\n"
s_cid:     .asciz "CID="
s_ready:   .asciz "READY\n"
s_timeout: .asciz "TIMEOUT\n"
s_request: .asciz "REQUEST_PORT="
s_got:     .asciz "GOT="
s_closed:  .asciz "CLOSED_OP="
s_done:    .asciz "DONE\n"
