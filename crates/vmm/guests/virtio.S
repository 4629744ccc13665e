/*
 * virtio-mmio test driver (64-bit entry, ELF without PVH note, linked by elf64.ld).
 * Probes the device windows at 0xd0000000 + n * 0x1000 as the DSDT announces them, and
 * drives each device through the real register interface and split virtqueues in guest
 * memory: virtio-blk (read, write, flush, out-of-range read) and virtio-rng (one buffer).
 * Prints "DEV=n" then KEY=hex lines per device, then resets.
 */
        .include "macros64.inc"
        .text
        .code64
        .globl  startup_64
startup_64:
        mov     $0x80000, %rsp
        PUTS    s_hello
        xor     %r15, %r15                      /* device index */
next_dev:
        cmp     $8, %r15
        jae     done
        mov     %r15, %rbx
        shl     $12, %rbx
        mov     $0xd0000000, %eax               /* zero-extended */
        add     %rax, %rbx                      /* window */
        mov     %r15, %r12
        shl     $16, %r12
        add     $0x400000, %r12                 /* this device's queue memory */
        movl    0(%rbx), %eax
        cmp     $0x74726976, %eax
        jne     done
        mov     %r15, %rax
        KV      s_dev
        movl    4(%rbx), %eax
        KV      s_version
        movl    8(%rbx), %eax
        KV      s_devid
        call    vinit
        KV      s_status
        movl    8(%rbx), %eax
        cmp     $2, %eax
        jne     1f
        call    blk_test
        jmp     2f
1:      cmp     $4, %eax
        jne     2f
        call    rng_test
2:      movl    0x60(%rbx), %eax
        KV      s_intstat
        movl    %eax, 0x64(%rbx)                /* ack */
        movl    0x60(%rbx), %eax
        KV      s_intafter
        movzwl  0x202(%r12), %eax
        KV      s_usedidx
        inc     %r15
        jmp     next_dev
done:   PUTS    s_done
        jmp     reset

/* vinit: status handshake, VERSION_1 only, queue 0 (size 8) at %r12; returns status */
vinit:
        VIRTIO_NEGOTIATE
        movl    $0, 0x30(%rbx)
        movl    0x34(%rbx), %eax
        KV      s_qmax
        movl    $8, 0x38(%rbx)
        mov     %r12, %rax
        movl    %eax, 0x80(%rbx)
        movl    $0, 0x84(%rbx)
        add     $0x100, %rax
        movl    %eax, 0x90(%rbx)
        movl    $0, 0x94(%rbx)
        add     $0x100, %rax
        movl    %eax, 0xa0(%rbx)
        movl    $0, 0xa4(%rbx)
        movl    $1, 0x44(%rbx)
        movl    $0xf, 0x70(%rbx)
        movl    0x70(%rbx), %eax
        ret

/* publish: head 0 into the available ring, bump idx, notify queue 0 */
publish:
        movzwl  0x102(%r12), %eax
        mov     %eax, %ecx
        and     $7, %ecx
        movw    $0, 0x104(%r12,%rcx,2)
        inc     %eax
        movw    %ax, 0x102(%r12)
        movl    $0, 0x50(%rbx)
        ret

/* blk_req: type %edi, sector %rsi, data flags %dx (3 = read into, 1 = write from); -> status */
blk_req:
        movl    %edi, 0x1000(%r12)
        movl    $0, 0x1004(%r12)
        mov     %rsi, 0x1008(%r12)
        lea     0x1000(%r12), %rax
        mov     %rax, 0(%r12)
        movl    $16, 8(%r12)
        movw    $1, 12(%r12)
        movw    $1, 14(%r12)
        lea     0x2000(%r12), %rax
        mov     %rax, 16(%r12)
        movl    $512, 24(%r12)
        movw    %dx, 28(%r12)
        movw    $2, 30(%r12)
        lea     0x3000(%r12), %rax
        mov     %rax, 32(%r12)
        movl    $1, 40(%r12)
        movw    $2, 44(%r12)
        movw    $0, 46(%r12)
        movb    $0xff, 0x3000(%r12)
        call    publish
        movzbl  0x3000(%r12), %eax
        ret

blk_test:
        movl    0x100(%rbx), %eax               /* capacity (low), sectors */
        KV      s_cap
        mov     $0, %edi                        /* read sector 0 */
        mov     $0, %esi
        mov     $3, %edx
        call    blk_req
        KV      s_rdstat
        PUTS    s_data
        lea     0x2000(%r12), %rsi
        mov     $16, %ecx
        call    putn
        call    newline
        lea     0x2000(%r12), %rdi              /* fill the buffer with 'W' */
        mov     $512, %ecx
1:      movb    $'W', (%rdi)
        inc     %rdi
        dec     %ecx
        jnz     1b
        mov     $1, %edi                        /* write sector 2 */
        mov     $2, %esi
        mov     $1, %edx
        call    blk_req
        KV      s_wrstat
        movl    $4, 0x1000(%r12)                /* flush: header -> status */
        movw    $2, 14(%r12)
        movb    $0xff, 0x3000(%r12)
        call    publish
        movzbl  0x3000(%r12), %eax
        KV      s_flstat
        movb    $0, 0x2000(%r12)
        mov     $0, %edi                        /* read sector 2 back */
        mov     $2, %esi
        mov     $3, %edx
        call    blk_req
        PUTS    s_readback
        lea     0x2000(%r12), %rsi
        mov     $8, %ecx
        call    putn
        call    newline
        mov     $0, %edi                        /* read past the end */
        mov     $100000, %esi
        mov     $3, %edx
        call    blk_req
        KV      s_oorstat
        ret

rng_test:
        lea     0x2000(%r12), %rax
        mov     %rax, 0(%r12)
        movl    $32, 8(%r12)
        movw    $2, 12(%r12)
        call    publish
        movl    0x208(%r12), %eax               /* used[0].len */
        KV      s_rnglen
        mov     0x2000(%r12), %rax
        or      0x2008(%r12), %rax
        KV      s_rngor
        ret

        .include "lib64.inc"
        .section .rodata
s_hello:    .asciz "GUEST virtio\n"
s_dev:      .asciz "DEV="
s_version:  .asciz "VERSION="
s_devid:    .asciz "DEVICE_ID="
s_qmax:     .asciz "QUEUE_NUM_MAX="
s_status:   .asciz "STATUS="
s_cap:      .asciz "CAPACITY="
s_rdstat:   .asciz "READ_STATUS="
s_data:     .asciz "DATA="
s_wrstat:   .asciz "WRITE_STATUS="
s_flstat:   .asciz "FLUSH_STATUS="
s_readback: .asciz "READBACK="
s_oorstat:  .asciz "OUT_OF_RANGE_STATUS="
s_rnglen:   .asciz "RNG_LEN="
s_rngor:    .asciz "RNG_OR="
s_intstat:  .asciz "INTERRUPT_STATUS="
s_intafter: .asciz "INTERRUPT_AFTER_ACK="
s_usedidx:  .asciz "USED_IDX="
s_done:     .asciz "DONE\n"
