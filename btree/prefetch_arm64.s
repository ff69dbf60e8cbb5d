#include "textflag.h"

// func prefetch(p *byte, lines int)
//
// PRFM PLDL1KEEP of lines cache lines from p: a hint that never faults. The
// CPU waits for the address's translation (a TLB miss), not for the
// data; see prefetchNext in cursor.go.
TEXT ·prefetch(SB), NOSPLIT|NOFRAME, $0-16
	MOVD p+0(FP), R0
	MOVD lines+8(FP), R1
	CMP $0, R1
	BLE done
loop:
	PRFM (R0), PLDL1KEEP
	ADD $64, R0
	SUB $1, R1
	CBNZ R1, loop
done:
	RET
