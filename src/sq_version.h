/*  The project's version, shared by every program  */
#ifndef SQ_VERSION_H_INCLUDED
#define SQ_VERSION_H_INCLUDED
#define SQ_VERSION "0.1.0"
#endif
