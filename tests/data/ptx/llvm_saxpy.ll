; LLVM NVPTX input: saxpy + a block sum through shared memory and a warp shuffle.
; llc -march=nvptx64 -mcpu=sm_80 -mattr=+ptx80 llvm_saxpy.ll -o llvm_saxpy.sm80.ptx
target datalayout = "e-i64:64-i128:128-v16:16-v32:32-n16:32:64"
target triple = "nvptx64-nvidia-cuda"

@partial = internal addrspace(3) global [32 x float] undef, align 4
@scale = addrspace(1) global float 2.0, align 4
@table = addrspace(4) constant [4 x i32] [i32 1, i32 2, i32 3, i32 -4], align 4

declare i32 @llvm.nvvm.read.ptx.sreg.tid.x()
declare i32 @llvm.nvvm.read.ptx.sreg.ctaid.x()
declare i32 @llvm.nvvm.read.ptx.sreg.ntid.x()
declare void @llvm.nvvm.barrier0()
declare float @llvm.nvvm.shfl.sync.down.f32(i32, float, i32, i32)

define ptx_kernel void @saxpy_sum(ptr addrspace(1) %x, ptr addrspace(1) %y, ptr addrspace(1) %sum, float %a, i32 %n) {
entry:
  %tid = call i32 @llvm.nvvm.read.ptx.sreg.tid.x()
  %cta = call i32 @llvm.nvvm.read.ptx.sreg.ctaid.x()
  %ntid = call i32 @llvm.nvvm.read.ptx.sreg.ntid.x()
  %base = mul i32 %cta, %ntid
  %i = add i32 %base, %tid
  %in = icmp slt i32 %i, %n
  br i1 %in, label %body, label %reduce

body:
  %idx = sext i32 %i to i64
  %px = getelementptr float, ptr addrspace(1) %x, i64 %idx
  %py = getelementptr float, ptr addrspace(1) %y, i64 %idx
  %vx = load float, ptr addrspace(1) %px, align 4
  %vy = load float, ptr addrspace(1) %py, align 4
  %s = load float, ptr addrspace(1) @scale, align 4
  %k = and i32 %i, 3
  %pk = getelementptr [4 x i32], ptr addrspace(4) @table, i32 0, i32 %k
  %tk = load i32, ptr addrspace(4) %pk, align 4
  %tf = sitofp i32 %tk to float
  %ax = fmul float %a, %vx
  %ax2 = fmul float %ax, %s
  %r0 = fadd float %ax2, %vy
  %r = fadd float %r0, %tf
  store float %r, ptr addrspace(1) %py, align 4
  br label %reduce

reduce:
  %v = phi float [ 0.0, %entry ], [ %r, %body ]
  %d16 = call float @llvm.nvvm.shfl.sync.down.f32(i32 -1, float %v, i32 16, i32 31)
  %v1 = fadd float %v, %d16
  %d8 = call float @llvm.nvvm.shfl.sync.down.f32(i32 -1, float %v1, i32 8, i32 31)
  %v2 = fadd float %v1, %d8
  %lane = and i32 %tid, 31
  %warp = lshr i32 %tid, 5
  %slot = getelementptr [32 x float], ptr addrspace(3) @partial, i32 0, i32 %warp
  %first = icmp eq i32 %lane, 0
  br i1 %first, label %write, label %sync

write:
  store float %v2, ptr addrspace(3) %slot, align 4
  br label %sync

sync:
  call void @llvm.nvvm.barrier0()
  %t0 = icmp eq i32 %tid, 0
  br i1 %t0, label %final, label %done

final:
  %p0 = load float, ptr addrspace(3) @partial, align 4
  %old = atomicrmw fadd ptr addrspace(1) %sum, float %p0 monotonic, align 4
  br label %done

done:
  ret void
}
