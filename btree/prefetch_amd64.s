#include "textflag.h"

// func prefetch(p *byte, lines int)
//
// PREFETCHT0 of lines cache lines from p: a hint that never faults. The
// CPU waits for the address's translation (a TLB miss), not for the
// data; see prefetchNext in cursor.go.
TEXT ·prefetch(SB), NOSPLIT|NOFRAME, $0-16
	MOVQ p+0(FP), AX
	MOVQ lines+8(FP), CX
	TESTQ CX, CX
	JLE done
loop:
	PREFETCHT0 (AX)
	ADDQ $64, AX
	DECQ CX
	JNZ loop
done:
	RET
