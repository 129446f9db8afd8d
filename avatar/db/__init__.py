from avatar.db.engine import get_engine, get_sessionmaker, session_scope
from avatar.db.models import (
    Base,
    ConversationTurn,
    ProsodyScore,
    Session,
    SynthesizedAudio,
    SystemLog,
    Transcription,
    VoiceProfile,
)

__all__ = [
    "Base",
    "ConversationTurn",
    "ProsodyScore",
    "Session",
    "SynthesizedAudio",
    "SystemLog",
    "Transcription",
    "VoiceProfile",
    "get_engine",
    "get_sessionmaker",
    "session_scope",
]
