"""gongkai"""
